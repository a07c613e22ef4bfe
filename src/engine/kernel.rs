//! Which GEMM kernel runs a product: what the CPU has (AMX tiles, AVX512_BF16's `vdpbf16ps`,
//! AVX512_VNNI's `vpdpbusd`), what `SIAMFACE_KERNELS` allows, and the ladder between them,
//! decided once per process.
use super::amx;
use super::gemm::Precision;

/// The kernels a product can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// The GEMM crate in `f32`.
    F32,
    /// bf16 panels multiplied by portable code following `tdpbf16ps`'s definition: slow, for
    /// checking the packing and the numerics on any machine.
    Bf16Portable,
    /// bf16 panels on `vdpbf16ps` (AVX512_BF16).
    Bf16Avx512,
    /// bf16 panels on AMX tiles.
    Bf16Amx,
    /// int8 panels multiplied by portable code following `vpdpbusd`'s definition: for checking.
    Int8Portable,
    /// int8 panels on `vpdpbusd` (AVX512_VNNI).
    Int8Vnni,
}

/// Set to `auto`, `amx`, `avx512bf16` or `f32` to cap the kernels the engine may choose: `f32`
/// keeps every product in `f32` whatever the model's precision, `avx512bf16` keeps it off the
/// tiles (AVX-512 kernels only: `vdpbf16ps` for bf16, `vpdpbusd` for int8). `auto` (or unset)
/// and `amx` allow everything the CPU has.
pub const KERNELS_ENV: &str = "SIAMFACE_KERNELS";

/// The fastest kernel `SIAMFACE_KERNELS` allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cap {
    F32,
    Avx512Bf16,
    Amx,
}

impl Cap {
    /// Reads a value of `SIAMFACE_KERNELS` (`None`: unset).
    pub fn parse(value: Option<&std::ffi::OsStr>) -> Result<Cap, String> {
        let Some(v) = value else { return Ok(Cap::Amx) };
        match v.to_str().map(str::trim) {
            Some("" | "auto" | "amx") => Ok(Cap::Amx),
            Some("avx512bf16") => Ok(Cap::Avx512Bf16),
            Some("f32") => Ok(Cap::F32),
            _ => Err(format!("{KERNELS_ENV}={}: expected auto, amx, avx512bf16 or f32", v.to_string_lossy())),
        }
    }

    /// This process's cap: `SIAMFACE_KERNELS` read once. An unreadable value allows nothing but
    /// `f32` (the command line refuses it before any work, see `check_env`).
    pub fn current() -> Cap {
        static CAP: std::sync::OnceLock<Cap> = std::sync::OnceLock::new();
        *CAP.get_or_init(|| Cap::parse(std::env::var_os(KERNELS_ENV).as_deref()).unwrap_or(Cap::F32))
    }
}

/// `Err` with a message naming the variable when `SIAMFACE_KERNELS` holds something unknown, or
/// when the switch it replaced, `SIAMFACE_NO_AMX`, is set (it would otherwise be ignored).
pub fn check_env() -> Result<(), String> {
    if std::env::var_os("SIAMFACE_NO_AMX").is_some() {
        return Err(format!("SIAMFACE_NO_AMX is no longer read: set {KERNELS_ENV}=avx512bf16 (no AMX) or {KERNELS_ENV}=f32 (no bf16) instead"));
    }
    Cap::parse(std::env::var_os(KERNELS_ENV).as_deref()).map(|_| ())
}

/// What this CPU has, detected once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    pub amx: bool,
    pub avx512bf16: bool,
    pub avx512vnni: bool,
}

impl Cpu {
    pub fn here() -> Cpu {
        #[cfg(target_arch = "x86_64")]
        let (avx512bf16, avx512vnni) = (super::bf16_dot::supported(), super::int8_dot::supported());
        #[cfg(not(target_arch = "x86_64"))]
        let (avx512bf16, avx512vnni) = (false, false);
        Cpu { amx: amx::supported(), avx512bf16, avx512vnni }
    }
}

impl Kernel {
    /// The kernel `precision` runs on here.
    pub fn for_precision(precision: Precision) -> Kernel {
        static HERE: std::sync::OnceLock<(Cpu, Cap)> = std::sync::OnceLock::new();
        let (cpu, cap) = *HERE.get_or_init(|| (Cpu::here(), Cap::current()));
        Kernel::select(precision, cpu, cap)
    }

    /// The kernel for `precision` on a CPU with `cpu`'s features, under `cap`: the top of the
    /// ladder AMX, `vdpbf16ps`, `f32` that both allow; int8 on `vpdpbusd`, and without it the
    /// bf16 ladder (int8 is a permission to lose that little more accuracy for speed, and the
    /// portable int8 kernel would be slower than any of them).
    pub fn select(precision: Precision, cpu: Cpu, cap: Cap) -> Kernel {
        match precision {
            Precision::Int8 if cpu.avx512vnni && cap >= Cap::Avx512Bf16 => Kernel::Int8Vnni,
            Precision::Int8 => Kernel::select(Precision::Bf16, cpu, cap),
            Precision::Bf16 if cpu.amx && cap >= Cap::Amx => Kernel::Bf16Amx,
            Precision::Bf16 if cpu.avx512bf16 && cap >= Cap::Avx512Bf16 => Kernel::Bf16Avx512,
            _ => Kernel::F32,
        }
    }

    /// Whether this machine can run the kernel at all.
    pub fn runs_here(self) -> bool {
        match self {
            Kernel::F32 | Kernel::Bf16Portable | Kernel::Int8Portable => true,
            Kernel::Bf16Avx512 => Cpu::here().avx512bf16,
            Kernel::Int8Vnni => Cpu::here().avx512vnni,
            Kernel::Bf16Amx => amx::supported(),
        }
    }

    /// The kernel's name as `SIAMFACE_KERNELS` and the benchmarks spell it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::F32 => "f32",
            Kernel::Bf16Portable => "bf16-portable",
            Kernel::Bf16Avx512 => "avx512bf16",
            Kernel::Bf16Amx => "amx",
            Kernel::Int8Portable => "int8-portable",
            Kernel::Int8Vnni => "avx512vnni",
        }
    }

    /// Whether the kernel multiplies int8 panels.
    pub fn is_int8(self) -> bool {
        matches!(self, Kernel::Int8Portable | Kernel::Int8Vnni)
    }
}

