"""The engines of the accelerator top, one per layer kind (:data:`corolla.layers.LAYER_KINDS`).

Every engine has the members of :func:`corolla.hw.bus.engine_members`: it runs the steps the
sequencer starts, owns its memories (answering the host bus for their spaces) and reads and
writes the activation banks during its steps.
"""
