"""Reference chains: small, real implementations of the centre's chains in Python (rasterio, numpy, rio-cogeo).

Each module is a stand-in for one real binary and takes that binary's own command line and configuration
files (``maja``, ``let_it_snow_fsc.py``, ``S1Processor``, ...), so that the adapters of ``hymotep.adapters``
drive them exactly as they drive the real chains. They write their products in the real layouts, which the
collections' readers ingest. They are what ``hesp demo`` and the tests run where the real chains are not
installed; ``reference_chains.launchers`` puts them on a PATH under their real names, ``reference_chains.demo``
is the demo's workflow. The package is the optional extra ``hesperides[reference]``: it builds on hygor and
hymotep, and nothing but the demo's command and the tests build on it.
"""
