#!/bin/bash
# Slurm job array: three tasks, each running one shard of the suite. Slurm sets
# SLURM_ARRAY_TASK_ID (0, 1, 2, from --array=0-2); it becomes --shard ID/3. The results live on
# the cluster's shared file system; a requeued task resumes its shard.
#
# Submit, then merge once every task has ended (afterany: failing models still merge):
#   job=$(sbatch --parsable examples/suite/slurm-array.sh)
#   sbatch --dependency=afterany:$job --wrap 'probity suite merge results/shard-0 results/shard-1 results/shard-2 --out results/merged'
#SBATCH --job-name=probity-nightly
#SBATCH --array=0-2
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=01:00:00
#SBATCH --requeue
set -u

probity suite run examples/suite/nightly.yaml --results results/shard-$SLURM_ARRAY_TASK_ID --shard $SLURM_ARRAY_TASK_ID/3
