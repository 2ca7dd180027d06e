"""The checks: a model through a converter, run and compared; what each check found."""
