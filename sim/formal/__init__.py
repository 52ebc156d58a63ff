"""Formal proofs of the generated blocks with SymbiYosys, all from pip: every stream port's
contract and, where the state space allows, the full function, for small Params."""
