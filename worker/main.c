/* autopeft-worker: a stateless daemon that fine-tunes the PEFT configurations the coordinator
 * sends it and reports their metric and parameter counts. */
#include "worker.h"

int main(int argc, char **argv)
{
    return worker_main(argc, argv);
}
