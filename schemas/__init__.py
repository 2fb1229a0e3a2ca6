"""Package data: the QMF schemas (``mrg.grid.json``), installed as ``qmf_agent.schemas``.

The schema is data so that the agent's validation, the console's attribute
access, the CLI's help and the docs are all driven by one file;
:mod:`qmf_agent.schema` loads it.
"""
