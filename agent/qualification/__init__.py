"""Lead qualification: the policy file read by small pure functions.

Disqualifiers, firmographic fit, decayed intent, the hand-raise and "rising engagement" tests,
and the route that decides who works a lead (the seeds' transition matrix). Nothing here does
I/O or reads a clock: `now` is always passed in, timezone-aware.

Layout: `domains` and `titles` (reading the record), `disqualifiers`, `fit`, `intent` (signal
weights, hand-raise, rising engagement) and `scoring` (`qualify`, and `band_for`, which decides
a lead's band from the policy's thresholds).
"""

from agent.qualification.scoring import qualify

__all__ = ["qualify"]
