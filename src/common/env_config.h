/*
 * env_config.h: the sidecars' configuration from environment variables, each bad
 * value refused with a message that names the variable (the seed's variables,
 * DESIGN.md § Configuration). Free of PostgreSQL headers.
 */
#ifndef IF_ENV_CONFIG_H
#define IF_ENV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* The variable's value, NULL when it is unset or empty. */
extern const char *envc_get(const char *name);
/* *out = the integer in [min, max], or def when unset; false with err set otherwise. */
extern bool envc_int(const char *name, int def, int min, int max, int *out, char *err, size_t errsz);
/* 1 for true/1/yes/on, 0 for false/0/no/off (any case), -1 for anything else */
extern int	envc_parse_bool(const char *s);
extern bool envc_bool(const char *name, bool def, bool *out, char *err, size_t errsz);

#endif
