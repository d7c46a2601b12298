"""Hydra, the supervision workshop: the ``hesp`` command line, status and health of the centre."""
