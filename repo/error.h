/* error.h — a thread-local last-error message.
 *
 * Functions return negative errno; the detail a user needs (which object,
 * which file, what the server said) goes here with error_set() and the CLI
 * prints error_last(). A later error_set() replaces the message; callers
 * higher up may prefix context with error_prefix(). */
#pragma once
#include <stdarg.h>

__attribute__((format(printf, 1, 2)))
void error_set(const char *fmt, ...);
/* Prepend "PREFIX: " to the current message (or set it when empty). */
__attribute__((format(printf, 1, 2)))
void error_prefix(const char *fmt, ...);
void error_clear(void);
/* Borrowed; valid until the next error_* call on this thread. "" if none. */
const char *error_last(void);
/* Set the message unless one is already set; returns r (negative errno). */
__attribute__((format(printf, 2, 3)))
int error_ret(int r, const char *fmt, ...);
