"""``moetile cosim``: run a real MoE model with every MoE layer on the generated accelerator,
each batch checked against the golden (:mod:`.run`), on a simulator backend (:mod:`.backends`).
Nothing is imported here, so the CLI reads :mod:`.settings` without loading torch."""

__all__ = []
