# The final checkpoint of every seed: deterministic policy on fresh episodes.


rule evaluate:
    input:
        experiment=experiment_file,
        trained=f"{RESULTS}/{{suite}}/{{name}}/trained.json",
    params:
        experiment=experiment_path,
    output:
        f"{RESULTS}/{{suite}}/{{name}}/evaluation.json",
    log:
        f"{RESULTS}/logs/{{suite}}/{{name}}/evaluate.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    shell:
        "XLA_PYTHON_CLIENT_PREALLOCATE=false memorax evaluate {params.experiment} --results {RESULTS} "
        "--checkpoint latest --output {output} > {log} 2>&1"
