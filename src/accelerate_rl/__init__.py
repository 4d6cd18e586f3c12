"""accelerate-rl: beam-dynamics simulations served to reinforcement learning and optimisation.

Layers (imports point one way): ``tracewin`` (file formats and the TraceWin runner)
<- ``engine`` (embedded TraceWin-compatible tracker) <- ``simulators`` <- ``runtime``
(Ray) <- ``rl`` / ``tune`` / ``cli``.
"""

__version__ = "0.1.0"
