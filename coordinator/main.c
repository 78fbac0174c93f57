/* autopeft-coordinator: the daemon that owns a study (search space, surrogate, history) and
 * hands trials to autopeft-worker processes over ZeroMQ. */
#include "coordinator.h"

int main(int argc, char **argv)
{
    return coordinator_main(argc, argv);
}
