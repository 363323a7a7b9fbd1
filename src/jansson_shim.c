/*
 * jansson_shim.c: jansson's json_object() inside the server.
 *
 * The postgres executable exports a function named json_object (the SQL
 * function json_object(text[])). A shared library loaded into the server that
 * calls jansson's json_object() is bound to the executable's symbol first and
 * crashes. The extension is linked with -Wl,--wrap=json_object (Makefile), so
 * every call in its objects (src/common/ included) lands here instead; jansson
 * binds its own internal calls within libjansson, so json_pack is safe.
 * Free of PostgreSQL headers on purpose.
 */
#include <jansson.h>

json_t	   *__wrap_json_object(void);

json_t *
__wrap_json_object(void)
{
	return json_pack("{}");
}
