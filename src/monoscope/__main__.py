"""`python -m monoscope …` (and `torchrun -m monoscope …`): the same command line as `monoscope …`."""
from .cli import main

main()
