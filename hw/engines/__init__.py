"""The engines of the accelerator top, one per layer kind (:data:`corolla.layers.LAYER_KINDS`).

Every engine has the members of :func:`corolla.hw.bus.engine_members`: it runs the steps the
sequencer starts, owns its memories (answering the host bus for their spaces) and reads and
writes the activation banks during its steps.
"""

from amaranth.lib import wiring

from corolla.layers import LAYER_KINDS
from corolla.params import TopParams

from ..bus import engine_members

__all__ = ["KindEngine"]


class KindEngine(wiring.Component):
    """Base of the engines: the members of :func:`corolla.hw.bus.engine_members` for the
    layer kind :attr:`kind_name`, built from the top's parameters.

    Parameters
    ----------
    params : TopParams
    """

    #: The layer kind (an entry of :data:`corolla.layers.LAYER_KINDS`).
    kind_name = ""

    def __init__(self, params: TopParams):
        self._p = params
        self._kind = LAYER_KINDS[self.kind_name]
        super().__init__(engine_members(params, self._kind))

    @property
    def parameters(self) -> dict:
        """The layer kind and the top's parameters, for manifests and benches."""
        return {"kind": self.kind_name, "top": self._p.to_dict()}
