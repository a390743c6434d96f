from twisted.application.service import ServiceMaker

mcproxy = ServiceMaker(
    "mcproxy", "mcproxy.proxy.tap", "Minecraft: Java Edition proxy", "mcproxy")
mcbackend = ServiceMaker(
    "mcbackend", "mcproxy.backend.tap", "mcproxy reference backend (limbo server)", "mcbackend")
