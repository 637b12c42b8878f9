"""Studies: TAIL against its baselines and ablations over seeds, in one command.

`python -m tailjax.study --config FILE` expands the config's `study.grid` into cells (`grid`),
trains and evaluates each as an ordinary resumable run (`run`), and writes the comparison
report (`report`): the paper's Table 1 and Table 2 layouts with the seeds' mean and spread,
accuracy against input length, and where wrong traces first leave the reference (`divergence`).
"""
