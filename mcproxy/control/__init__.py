"""The signed AMP control plane between the proxy and its backends.

L{proxy_side.ControlServerFactory} is the proxy's [messaging] listener,
L{backend_side.BackendControlLink} the backend's reconnecting link, and
L{envelope} the signing and validation both share. See docs/control-plane.md.
"""
