"""mcproxy: a Minecraft: Java Edition network proxy framework on Twisted."""

__version__ = "0.4.0"
