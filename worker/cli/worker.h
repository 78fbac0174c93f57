/* autopeft-worker's command line (also `autopeft worker`): flags, trainers, signals, then the
 * daemon (daemon.h). Returns the exit status: 0 on SHUTDOWN, idle timeout, a signal or a
 * finished study; 1 when the coordinator refused this worker or a fatal error; 2 bad usage. */
#ifndef AUTOPEFT_WORKER_H
#define AUTOPEFT_WORKER_H

int worker_main(int argc, char **argv);

#endif
