/* The monotonic clock: for durations, timeouts and rates, never for dates (it does not jump
 * when the wall clock is set). */
#ifndef AUTOPEFT_CLOCK_H
#define AUTOPEFT_CLOCK_H

#include <stdint.h>

/* Seconds since an arbitrary fixed point. */
double clock_s(void);
/* The same in whole milliseconds. */
uint64_t clock_ms(void);

#endif
