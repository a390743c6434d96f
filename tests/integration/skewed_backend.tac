"""A reference backend that announces another release: the partial rollout the
version-mismatch procedure is about.

Run as ``twistd -n -y skewed_backend.tac`` with ``MCPROXY_TEST_CONFIG`` naming a
backend.toml and ``MCPROXY_TEST_ARTIFACT_VERSION`` / ``MCPROXY_TEST_CONTROL_VERSION`` the
set to announce. Production code reads no such variable: the set reaches
``BackendProcess`` as an argument, which is the seam this file uses.
"""

import os

from twisted.application.service import Application
from twisted.internet import reactor

from mcproxy.backend.service import BackendProcess
from mcproxy.config import load_backend_config
from mcproxy.ops.logging import logged_process
from mcproxy.versions import SHIPPED, VersionSet

versions = VersionSet(
    artifact=os.environ.get("MCPROXY_TEST_ARTIFACT_VERSION", SHIPPED.artifact),
    control_protocol=int(os.environ.get("MCPROXY_TEST_CONTROL_VERSION", SHIPPED.control_protocol)),
)
application = Application("mcbackend (announcing another version)")
config = load_backend_config(os.environ["MCPROXY_TEST_CONFIG"])
process = BackendProcess(config, reactor, versions=versions)
logged_process(process, config.logging.level, config.logging.file, process.redactor).setServiceParent(application)
