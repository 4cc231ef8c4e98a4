"""Traits as data: the schema (:mod:`.schema`), generic exploits (:mod:`.transforms`) and detectors
(:mod:`.detectors`), named rewrites (:mod:`.rewrites`), and the registered code the built-in traits need
(:mod:`.builtin`, :mod:`.answers`), looked up by id through the tables in :mod:`.base`."""
