"""Only the optional compiled relay scan; everything else is in setup.cfg.

Set MCPROXY_PURE_PYTHON=1 to skip it.  A failed build is not an error: the relay
then uses its Python loop (mcproxy/proxy/relay.py).
"""

import os

from setuptools import Extension, setup

extensions = []
if os.environ.get("MCPROXY_PURE_PYTHON") != "1":
    extensions.append(Extension("mcproxy.proxy._relayscan", ["mcproxy/proxy/_relayscan.c"], optional=True))

setup(ext_modules=extensions)
