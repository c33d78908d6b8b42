# A suite's table (IQM, mean, 95% bootstrap intervals, probability of improvement)
# and its report: figures registered as items of `snakemake --report`.


rule aggregate:
    input:
        suite_evaluations,
    output:
        summary=f"{RESULTS}/{{suite}}/summary.csv",
        provenance=f"{RESULTS}/{{suite}}/provenance.json",
    log:
        f"{RESULTS}/logs/{{suite}}/aggregate.log",
    shell:
        "memorax aggregate {wildcards.suite} --experiments {EXPERIMENTS_FOLDER} --results {RESULTS} "
        "{COMPARISON} > {log} 2>&1"


rule report:
    input:
        summary=f"{RESULTS}/{{suite}}/summary.csv",
        provenance=f"{RESULTS}/{{suite}}/provenance.json",
    output:
        page=report(
            f"{RESULTS}/{{suite}}/report.html",
            caption="../report/page.rst",
            category="{suite}",
            labels={"figure": "report page"},
        ),
        figures=report(
            directory(f"{RESULTS}/{{suite}}/figures"),
            patterns=["{figure}.png"],
            caption="../report/figures.rst",
            category="{suite}",
            labels={"figure": "{figure}"},
        ),
    log:
        f"{RESULTS}/logs/{{suite}}/report.log",
    shell:
        "memorax report {wildcards.suite} --experiments {EXPERIMENTS_FOLDER} --results {RESULTS} "
        "{COMPARISON} > {log} 2>&1"
