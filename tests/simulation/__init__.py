"""The Redshift simulator: what drivers observe through its front."""
