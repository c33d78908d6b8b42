# memorax: train every experiment of the selected suites, evaluate their checkpoints,
# aggregate (IQM and bootstrap intervals) and report.
#
#   snakemake --cores 2                          # the quick suite
#   snakemake --cores 2 --config suites=quick,popgym
#   snakemake -n                                 # the plan
#   snakemake --report results/report.html       # Snakemake's report of the last run
#
# The rules only call the `memorax` command; everything they do is in the package.

from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/workflow/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        [f"{RESULTS}/{suite}/report.html" for suite in SUITES],
    default_target: True


onsuccess:
    show_suites()
