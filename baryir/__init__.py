"""baryir: optimal-transport barycenters and BaryIR, from toy problems to all-in-one restoration.

Modules, one concept each:

- :mod:`baryir.toy` -- 2-D toy distributions, exact reference barycenters (POT,
  Bures-Wasserstein) and the benchmark metrics (W2, L2-UVP, BW2-UVP).
- :mod:`baryir.barycenter` -- the continuous neural barycenter solver (dual maximin,
  Theorem 4.1, eq. 9 and 12).
- :mod:`baryir.costs` -- transport costs: quadratic, and the MLOT costs of eq. 4.
- :mod:`baryir.models` -- the BaryIR network (Restormer backbone, barycenter map,
  potentials, aggregation).
- :mod:`baryir.data` -- degradation synthesis, benchmark datasets, the demo benchmark.
- :mod:`baryir.config`, :mod:`baryir.train`, :mod:`baryir.checkpoint` -- training.
- :mod:`baryir.untrusted`, :mod:`baryir.released` -- reading checkpoint files without
  running them; the authors' released weights converted to the ``reference`` network.
- :mod:`baryir.metrics`, :mod:`baryir.tiling`, :mod:`baryir.evaluate` -- evaluation.
- :mod:`baryir.plotting` -- figures shared by notebooks and the CLI.
- :mod:`baryir.cli` -- the ``baryir`` command.
"""

__version__ = "0.1.0"
