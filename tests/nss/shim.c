/*
 * A PKCS#11 shim that lets a caller who passes no init arguments (python-pkcs11 calls
 * C_Initialize(NULL)) use NSS softokn, which refuses C_Initialize without its parameter
 * string (CKR_ARGUMENTS_BAD).
 *
 * The shim exports C_GetFunctionList only. It dlopens softokn (RTLD_LOCAL, so a dlsym of
 * C_GetInterface on the shim's handle finds nothing and the caller stays on the 2.40
 * function list), copies softokn's CK_FUNCTION_LIST and replaces two slots:
 *   - C_Initialize: ignores the caller's arguments and initialises softokn with
 *     CKF_OS_LOCKING_OK and pReserved = "configdir='sql:DIR' certPrefix='' keyPrefix=''
 *     secmod='secmod.db' flags=", DIR being $OTP_NSS_DB_DIR read at that moment;
 *   - C_GetFunctionList: this function, so the list hands out itself.
 * Every other call (C_Finalize included) goes straight to softokn.
 *
 * Which softokn: $OTP_NSS_SOFTOKN, else the OTP_NSS_SOFTOKN_DEFAULT given with -D at build
 * time, else "libsoftokn3.so" from the loader's search path.
 *
 * No PKCS#11 header is needed: the few types are declared here (PKCS#11 v2.40, Unix
 * packing). Linux only (dlopen).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_FLAGS;
typedef void *CK_VOID_PTR;

typedef struct CK_VERSION {
    unsigned char major;
    unsigned char minor;
} CK_VERSION;

#define FUNCTION_COUNT 68 /* CK_FUNCTION_LIST of v2.40: C_Initialize .. C_WaitForSlotEvent */
#define SLOT_INITIALIZE 0
#define SLOT_GET_FUNCTION_LIST 3

typedef struct CK_FUNCTION_LIST {
    CK_VERSION version;
    void *functions[FUNCTION_COUNT]; /* aligned after the version, as the real struct */
} CK_FUNCTION_LIST;

typedef struct CK_C_INITIALIZE_ARGS {
    void *CreateMutex;
    void *DestroyMutex;
    void *LockMutex;
    void *UnlockMutex;
    CK_FLAGS flags;
    CK_VOID_PTR pReserved;
} CK_C_INITIALIZE_ARGS;

typedef CK_RV (*initialize_fn)(CK_VOID_PTR);
typedef CK_RV (*get_function_list_fn)(CK_FUNCTION_LIST **);

#define CKR_OK 0x000UL
#define CKR_GENERAL_ERROR 0x005UL
#define CKR_ARGUMENTS_BAD 0x007UL
#define CKF_OS_LOCKING_OK 0x002UL

#ifndef OTP_NSS_SOFTOKN_DEFAULT
#define OTP_NSS_SOFTOKN_DEFAULT "libsoftokn3.so"
#endif
#define DB_DIR_VARIABLE "OTP_NSS_DB_DIR"
#define SOFTOKN_VARIABLE "OTP_NSS_SOFTOKN"

#define EXPORT __attribute__((visibility("default")))

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_RV load_result = CKR_GENERAL_ERROR;
static CK_FUNCTION_LIST shim_list;
static initialize_fn softokn_initialize;
/* softokn keeps pointers into the parameter string: it lives as long as the process */
static char init_parameters[8192];

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list);

static CK_RV shim_initialize(CK_VOID_PTR ignored) {
    (void)ignored;
    const char *dir = getenv(DB_DIR_VARIABLE);
    if (dir == NULL || dir[0] == '\0') {
        fprintf(stderr, "otp nss shim: set %s to the NSS database directory\n", DB_DIR_VARIABLE);
        return CKR_ARGUMENTS_BAD;
    }
    if (strchr(dir, '\'') != NULL || strchr(dir, '"') != NULL) {
        fprintf(stderr, "otp nss shim: %s must not contain quotes\n", DB_DIR_VARIABLE);
        return CKR_ARGUMENTS_BAD;
    }
    int n = snprintf(init_parameters, sizeof init_parameters,
                     "configdir='sql:%s' certPrefix='' keyPrefix='' secmod='secmod.db' flags=",
                     dir);
    if (n < 0 || (size_t)n >= sizeof init_parameters) {
        fprintf(stderr, "otp nss shim: %s is too long\n", DB_DIR_VARIABLE);
        return CKR_ARGUMENTS_BAD;
    }
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = init_parameters;
    return softokn_initialize(&args);
}

static void load_softokn(void) {
    const char *path = getenv(SOFTOKN_VARIABLE);
    if (path == NULL || path[0] == '\0') {
        path = OTP_NSS_SOFTOKN_DEFAULT;
    }
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "otp nss shim: cannot load %s: %s\n", path, dlerror());
        load_result = CKR_GENERAL_ERROR;
        return;
    }
    get_function_list_fn get = (get_function_list_fn)dlsym(handle, "C_GetFunctionList");
    CK_FUNCTION_LIST *real = NULL;
    if (get == NULL || get(&real) != CKR_OK || real == NULL) {
        fprintf(stderr, "otp nss shim: %s has no usable C_GetFunctionList\n", path);
        load_result = CKR_GENERAL_ERROR;
        return;
    }
    /* the handle stays open for the life of the process: softokn's pointers are in use */
    memcpy(&shim_list, real, sizeof shim_list);
    softokn_initialize = (initialize_fn)real->functions[SLOT_INITIALIZE];
    shim_list.functions[SLOT_INITIALIZE] = (void *)shim_initialize;
    shim_list.functions[SLOT_GET_FUNCTION_LIST] = (void *)C_GetFunctionList;
    load_result = CKR_OK;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list) {
    if (list == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (pthread_once(&load_once, load_softokn) != 0) {
        return CKR_GENERAL_ERROR;
    }
    if (load_result != CKR_OK) {
        return load_result;
    }
    *list = &shim_list;
    return CKR_OK;
}
