/*
 * A request's body read as Firecracker's serde_json reads it: one JSON
 * object, or serde_json's words for why not (jansson does the reading;
 * this says what serde_json would have said, and where).
 */
#include "fcjson/config_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcjson/config_json_fault.h"

/* The last byte before off that is no blank, or 0. */
static char last_before(const char *body, size_t off)
{
	while (off > 0) {
		char c = body[--off];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return c;
	}
	return 0;
}

/*
 * jansson's complaint as serde_json words the same fault, and the offset
 * serde_json counts its column to: a byte it peeked at counts itself
 * (start + 1), one it consumed does not. tok is the token jansson
 * names, which ends at pos; NULL at the end of the input.
 */
static const char *syntax_words(const char *text, const char *tok, const char *body, size_t len,
				size_t pos, size_t *off)
{
	size_t start = tok && strlen(tok) <= pos ? pos - strlen(tok) : pos;
	char before = last_before(body, tok ? start : len);

	*off = start + 1;
	if (!tok) {
		/* What serde_json was reading when the input ran out, from the byte before. */
		*off = len;
		if (before == ',' || before == ':' || !before)
			return "EOF while parsing a value";
		if (before == '[' || !strncmp(text, "']' expected", 12))
			return "EOF while parsing a list";
		return "EOF while parsing an object";
	}
	if (!strncmp(text, "premature end of input", 22)) {
		*off = len;
		return tok[0] == '"' ? "EOF while parsing a string" : "EOF while parsing a value";
	}
	if (!strncmp(text, "string or '}' expected", 22))
		return tok[0] == '}' ? "trailing comma" : "key must be a string";
	if (!strncmp(text, "':' expected", 12))
		return "expected `:`";
	if (!strncmp(text, "'}' expected", 12))
		return "expected `,` or `}`";
	if (!strncmp(text, "']' expected", 12))
		return "expected `,` or `]`";
	if (!strncmp(text, "unexpected token", 16))
		return before == ',' && (tok[0] == '}' || tok[0] == ']') ? "trailing comma" :
		       "expected value";
	if (!strncmp(text, "end of file expected", 20))
		return "trailing characters";
	if (!strncmp(text, "invalid escape", 14) || !strncmp(text, "invalid Unicode", 15)) {
		*off = pos;
		return "invalid escape";
	}
	if (!strncmp(text, "control character", 17)) {
		*off = pos;
		return "control character (\\u0000-\\u001F) found while parsing a string";
	}
	if (!strncmp(text, "too big", 7) || !strncmp(text, "real number overflow", 20)) {
		*off = pos;
		return "number out of range";
	}
	if (!strncmp(text, "maximum parsing depth", 21))
		return "recursion limit exceeded";
	if (!strncmp(text, "invalid token", 13)) {
		static const char *const idents[] = { "true", "false", "null" };

		for (int i = 0; i < 3; i++) {
			size_t n = 0;

			if (tok[0] != idents[i][0])
				continue;
			/* serde_json reads the word byte by byte and stops past the first wrong one. */
			while (tok[n] && tok[n] == idents[i][n])
				n++;
			*off = start + n + 1;
			return "expected ident";
		}
		if (tok[0] == '-' || (tok[0] >= '0' && tok[0] <= '9')) {
			*off = tok[0] == '0' || (tok[0] == '-' && tok[1] == '0') ?
			       start + (tok[0] == '-' ? 3 : 2) : pos + 1;
			return "invalid number";
		}
		return "expected value";
	}
	return NULL;
}

/* The token in jansson's "... near 'TOKEN'", or NULL for "near end of file". */
static const char *near_token(const char *text, char *buf, size_t size)
{
	const char *p = strstr(text, " near '");
	size_t n;

	if (!p)
		return NULL;
	p += 7;
	n = strlen(p);
	if (n == 0 || p[n - 1] != '\'')
		return NULL;
	snprintf(buf, size, "%.*s", (int)(n - 1), p);
	return buf;
}

/* jansson's complaint about an integer literal past i64 or u64. */
static bool big_integer(const json_error_t *jerr)
{
	return !strncmp(jerr->text, "too big integer", 15) ||
	       !strncmp(jerr->text, "too big negative integer", 24);
}

/*
 * serde_json reads an integer literal past u64 (or below i64) as an f64, so
 * the field's own type refuses it ("invalid type: floating point ...");
 * jansson refuses it while reading. Each such literal is rewritten, in a
 * copy, to an f64 literal of the same length (its last two digits become
 * "e2": the same double to 17 digits, every column unchanged) and the copy
 * read again, so the field's check words the refusal as serde does. At most
 * BIG_INTEGERS of them (each costs a reading); NULL if it was not that.
 */
#define BIG_INTEGERS 16

static json_t *load_big_integers(const char *body, size_t len, size_t pos)
{
	json_error_t jerr;
	json_t *o = NULL;
	char *copy;

	copy = malloc(len);
	if (!copy)
		return NULL;
	memcpy(copy, body, len);
	for (int k = 0; k < BIG_INTEGERS; k++) {
		size_t i = pos;

		/* jansson stops at the literal's end (naming it only when positive). */
		if (pos > len)
			break;
		while (i > 0 && copy[i - 1] >= '0' && copy[i - 1] <= '9')
			i--;
		if (pos - i < 3)
			break;
		copy[pos - 2] = 'e';
		copy[pos - 1] = '2';
		o = json_loadb(copy, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
		if (o || !big_integer(&jerr))
			break;
		pos = (size_t)jerr.position;
	}
	free(copy);
	return o;
}

json_t *config_json_body(const char *body, size_t len, const char *strct, struct err *err)
{
	unsigned int line, column;
	json_error_t jerr;
	const char *words, *tok;
	char got[400], tokbuf[JSON_ERROR_TEXT_LENGTH];
	size_t off;
	json_t *o;

	if (!body || len == 0) {
		err_set(err, true, -EINVAL, "the request body is empty; want a JSON object");
		return NULL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	tok = o ? NULL : near_token(jerr.text, tokbuf, sizeof(tokbuf));
	if (!o && big_integer(&jerr))
		o = load_big_integers(body, len, (size_t)jerr.position);
	if (o && !json_is_object(o)) {
		/* serde_json stops past a scalar, at an array's bracket. */
		jfault_unexpected(got, sizeof(got), o);
		off = len;
		while (off > 0 && strchr(" \t\r\n", body[off - 1]))
			off--;
		if (json_is_array(o))
			for (off = 0; off < len && body[off] != '['; off++)
				;
		jfault_line_column(body, len, off, &line, &column);
		if (json_is_null(o))
			err_set(err, true, -EINVAL, "An error occurred when deserializing the json body "
				"of a request: invalid type: null, expected %s at line %u column %u.",
				strct, line, column);
		else
			err_set(err, true, -EINVAL, "An error occurred when deserializing the json body "
				"of a request: invalid type: %s, expected %s at line %u column %u.",
				got, strct, line, column);
		json_decref(o);
		return NULL;
	}
	if (o)
		return o;
	if (json_error_code(&jerr) == json_error_duplicate_key && tok) {
		/* serde's derive refuses the second key, counted past it and the blanks after. */
		off = (size_t)jerr.position;
		while (off < len && strchr(" \t\r\n", body[off]))
			off++;
		jfault_line_column(body, len, off, &line, &column);
		err_set(err, true, -EINVAL, "An error occurred when deserializing the json body of a "
			"request: duplicate field `%.*s` at line %u column %u.",
			(int)(strlen(tok) > 2 ? strlen(tok) - 2 : 0), tok + 1, line, column);
		return NULL;
	}
	words = syntax_words(jerr.text, tok, body, len, (size_t)jerr.position, &off);
	if (!words) {
		err_set(err, true, -EINVAL, "An error occurred when deserializing the json body of a "
			"request: %s at line %d column %d.", jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	jfault_line_column(body, len, off, &line, &column);
	err_set(err, true, -EINVAL, "An error occurred when deserializing the json body of a "
		"request: %s at line %u column %u.", words, line, column);
	return NULL;
}
