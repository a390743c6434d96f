/* The relay's frame scan (_skip in relay.py) compiled: the same rules, byte for byte.
 *
 * Optional: relay.py uses it when it was built and falls back to the Python loop
 * otherwise.  tests/test_proxy_relay_scan.py holds both to the same answers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
skip(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view, table;
    Py_ssize_t pos, n, frames = 0;
    int compressed;

    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "skip(buf, pos, n, hot, compressed)");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    n = PyLong_AsSsize_t(args[2]);
    compressed = PyObject_IsTrue(args[4]);
    if (PyErr_Occurred() || compressed < 0)
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[3], &table, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (table.len < 256 || pos < 0) {
        PyBuffer_Release(&table);
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "hot table of 256 bytes and pos >= 0 expected");
        return NULL;
    }
    if (n > view.len)
        n = view.len;
    {
        const unsigned char *buf = view.buf;
        const unsigned char *hot = table.buf;
        while (pos < n) {
            Py_ssize_t size = buf[pos], start, end;
            if (size < 0x80) {
                start = pos + 1;
            } else if (pos + 1 < n && buf[pos + 1] < 0x80) {
                size = (size & 0x7F) | ((Py_ssize_t)buf[pos + 1] << 7);
                start = pos + 2;
            } else {
                break;
            }
            end = start + size;
            if (end > n || size == 0)
                break;
            if (compressed) {
                /* Only a body sent uncompressed (data length 0) shows its id in the clear. */
                if (size < 2 || buf[start])
                    break;
                start += 1;
            }
            if (hot[buf[start]])
                break;
            pos = end;
            frames += 1;
        }
    }
    PyBuffer_Release(&table);
    PyBuffer_Release(&view);
    return Py_BuildValue("(nn)", pos, frames);
}

static PyMethodDef methods[] = {
    {"skip", (PyCFunction)(void (*)(void))skip, METH_FASTCALL,
     "Step over the run of frames at pos that can be passed on without a look."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_relayscan", NULL, -1, methods,
};

PyMODINIT_FUNC
PyInit__relayscan(void)
{
    return PyModule_Create(&module);
}
