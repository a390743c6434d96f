"""Where proxy plugins live: any ``mcproxy/plugins/`` folder on ``sys.path``.

Like ``twisted/plugins``, the package's path is extended with every other
``mcproxy/plugins`` directory (one without an ``__init__.py``) found on ``sys.path``,
so a third-party distribution installs its plugin by dropping a module into its own
``mcproxy/plugins/``.  See docs/plugins.md.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
