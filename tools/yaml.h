/* A JSON value (jansson) written as a YAML block document, for manifests
 * people read and kubectl applies (t9kfs job).
 *
 *   struct buf b = BUF_INIT;
 *   yaml_emit(obj, &b);          // "apiVersion: v1\nkind: Pod\n..."
 *   fputs((char *)b.data, stdout); buf_release(&b);
 *
 * Mappings keep jansson's insertion order; empty ones are {} and []. A
 * string is plain only where every YAML 1.1 and 1.2 reader (go-yaml in
 * kubectl included) reads it back as that same string; others ('yes',
 * '0400', '1:20', '', ' x', 'a: b', '{"k":1}') are single-quoted, and
 * double-quoted with escapes when they hold line breaks, control
 * characters or the Unicode ones YAML folds or forbids. Integers and reals
 * are numbers, true/false/null as such. Document separators ("---") are
 * the caller's.
 */
#ifndef T9K_TOOLS_YAML_H
#define T9K_TOOLS_YAML_H

#include "lib/buf.h"

#include <jansson.h>

/* Appends the document of v to out (ending with a newline): 0, or -ENOMEM
 * (out then holds part of it). */
int yaml_emit(const json_t *v, struct buf *out);

#endif
