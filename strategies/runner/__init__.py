"""Process supervision for hosted strategies, with no Django imports.

``archive``: safe checking and extraction of tar.gz artifacts. ``environment``: the child's clean
environment. ``process``: spawning with resource limits, line streaming, stopping, exit verdicts.
The Django side (``strategies.supervisor``) claims runs, writes logs and reports exits.
"""
