"""The ``headwater`` command line: a Typer app over ``headwater.Project``."""
