/* placeholder: being written */
typedef int tq__placeholder_t;
