"""Models this project trained, shipped as package data (installed as ``keras_archs.saved_models``).

Each file is listed in ``MANIFEST.json`` (sha256, metrics, the exact command) and registered as a weights tag in
``keras_archs.registry``; ``keras_archs.weights.shipped_path`` checks the hash before use.
"""
