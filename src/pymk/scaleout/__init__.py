"""Scale-out engines for the batch work: :mod:`pymk.scaleout.ray_batch` runs ``pymk batch`` on Ray."""
