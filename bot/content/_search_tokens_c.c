/* The search tokeniser's hot loop in C: `bot.content.search_tokens.index_tokens` on folded text.
 *
 * Python builds ~5,000 small bigram strings per post one by one; this makes the whole token
 * stream in one pass over the characters. It must give exactly what `_index_tokens_python`
 * gives (tests/bot/content/test_search_tokens_native.py compares them on every sample post and
 * on random text), so the character classes are the ones `re` uses: \w is Py_UNICODE_ISALNUM
 * or "_", \s is Py_UNICODE_ISSPACE, and the CJK ranges are those of search_tokens._CJK_CLASS.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define GLUE 0xF0000

static int
is_cjk(Py_UCS4 c)
{
    return c == 0x3005 || c == 0x3007 || (c >= 0x3021 && c <= 0x3029) || (c >= 0x3038 && c <= 0x303C)
        || (c >= 0x3040 && c <= 0x3098) || (c >= 0x309D && c <= 0x309F)
        || (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x30FC && c <= 0x30FF)
        || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF)
        || (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F)
        || (c >= 0x20000 && c <= 0x2FA1F);
}

/* 1: CJK, 2: word (\w but not "_" and not CJK), 0: neither (a separator character) */
static int
char_class(Py_UCS4 c)
{
    if (is_cjk(c)) {
        return 1;
    }
    if (c != '_' && Py_UNICODE_ISALNUM(c)) {
        return 2;
    }
    return 0;
}

static Py_UCS4
separator_mark(Py_UCS4 c)
{
    Py_UCS4 plane = c < 0x10000 ? 0xF0000 : 0x100000;
    Py_UCS4 low = c & 0xFFFF;
    return plane + (low < 0xFFFD ? low : 0xFFFD);
}

static PyObject *
index_tokens_folded(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "index_tokens_folded() takes a str");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(arg) < 0) { /* a no-op, and deprecated, from 3.12 on */
        return NULL;
    }
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    /* Each character gives at most three (a bigram and its space), a junction two more per run. */
    if (n > (PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Py_UCS4) - 8) / 6) {
        return PyErr_NoMemory();
    }
    Py_UCS4 *out = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(6 * n + 8));
    if (out == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t w = 0;
    Py_ssize_t i = 0;
    Py_ssize_t previous_end = -1; /* end of the previous run, -1 before the first */
    while (i < n) {
        int cls = char_class(PyUnicode_READ(kind, data, i));
        if (cls == 0) {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        while (i < n && char_class(PyUnicode_READ(kind, data, i)) == cls) {
            i++;
        }
        if (previous_end >= 0) {
            if (previous_end == start) {
                out[w++] = GLUE;
                out[w++] = ' ';
            }
            else {
                int spaced = 0;
                for (Py_ssize_t k = previous_end; k < start; k++) {
                    if (Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, k))) {
                        spaced = 1;
                        break;
                    }
                }
                if (!spaced) {
                    for (Py_ssize_t k = previous_end; k < start; k++) {
                        out[w++] = separator_mark(PyUnicode_READ(kind, data, k));
                    }
                    out[w++] = ' ';
                }
            }
        }
        if (cls == 1) {
            for (Py_ssize_t k = start; k + 1 < i; k++) {
                out[w++] = PyUnicode_READ(kind, data, k);
                out[w++] = PyUnicode_READ(kind, data, k + 1);
                out[w++] = ' ';
            }
            out[w++] = PyUnicode_READ(kind, data, i - 1);
        }
        else {
            for (Py_ssize_t k = start; k < i; k++) {
                out[w++] = PyUnicode_READ(kind, data, k);
            }
        }
        out[w++] = ' ';
        previous_end = i;
    }
    if (w > 0) {
        w--; /* the space after the last token */
    }
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, w);
    PyMem_Free(out);
    return result;
}

static PyMethodDef methods[] = {
    {"index_tokens_folded", index_tokens_folded, METH_O,
     "The space-separated index tokens of already folded text (see search_tokens.index_tokens)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_search_tokens_c", "search_tokens' tokeniser in C.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__search_tokens_c(void)
{
    return PyModule_Create(&module);
}
