"""Release: bundle a package's DAG files with a manifest, verify, publish, install, prune."""
