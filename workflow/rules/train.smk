# One job per experiment: all its seeds in one process (vmapped). Checkpoints, the
# MLflow run ids and metrics live beside the output, never as outputs (Snakemake
# deletes outputs before a job and after a failure): a rerun resumes from the last
# checkpoint. trained.json is written last, when training is complete.


rule train:
    input:
        experiment=experiment_file,
    params:
        experiment=experiment_path,
    output:
        f"{RESULTS}/{{suite}}/{{name}}/trained.json",
    log:
        f"{RESULTS}/logs/{{suite}}/{{name}}/train.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=0,
    shell:
        # several jobs may share a GPU: allocate as needed, not 75% up front
        "XLA_PYTHON_CLIENT_PREALLOCATE=false memorax train {params.experiment} --results {RESULTS} "
        "{TRACKING} --no-progress > {log} 2>&1"
