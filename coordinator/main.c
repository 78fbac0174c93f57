/* autopeft-coordinator: the daemon that owns a study (search space, surrogate, history) and
 * hands trials to autopeft-worker processes over ZeroMQ. */
#include "common/blas_startup.h"
#include "coordinator/cli/coordinator.h"

int main(int argc, char **argv)
{
    /* The GP's Cholesky factorisations run on OpenBLAS too: check its core first. */
    blas_startup(argv, 0);
    return coordinator_main(argc, argv);
}
