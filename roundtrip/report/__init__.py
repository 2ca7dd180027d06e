"""Reports of the corpus, the upgrade matrix and release bisection."""
