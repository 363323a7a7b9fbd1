/*
 * observe.h: delivery counters and trace context (observe.c).
 */
#ifndef INVOICEFLOW_OBSERVE_H
#define INVOICEFLOW_OBSERVE_H

#include <stdbool.h>

extern bool invoiceflow_log_deliveries;

extern void invoiceflow_observe_init(void);
extern bool if_traceparent_valid(const char *s);
/* the 32 hex digits of a traceparent's trace id into out (33 bytes); "-" without one */
extern const char *if_trace_id(const char *traceparent, char *out);

#endif
