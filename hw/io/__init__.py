"""Host link: UART 8N1, framed packets with CRC-16 (:mod:`.protocol`), command executor."""

from .link import HostLink, SpaceInfo
from .uart import UartRx, UartTx, divisor_for

__all__ = ["HostLink", "SpaceInfo", "UartRx", "UartTx", "divisor_for"]
