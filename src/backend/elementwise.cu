// Elementwise f32 kernels of the hairtrigger CUDA backend, compiled at run
// time with NVRTC. Activation codes: 0 identity, 1 ReLU, 2 leaky ReLU (slope),
// 3 tanh, 4 GELU (exact, erf-based); the formulas are those of
// `net::Activation` on the CPU.

__device__ float act_apply(int code, float slope, float z) {
    switch (code) {
        case 1: return z > 0.0f ? z : 0.0f;
        case 2: return z > 0.0f ? z : slope * z;
        case 3: return tanhf(z);
        case 4: return z * 0.5f * (1.0f + erff(z * 0.70710678118654752f));
        default: return z;
    }
}

__device__ float act_derivative(int code, float slope, float z) {
    switch (code) {
        case 1: return z > 0.0f ? 1.0f : 0.0f;
        case 2: return z > 0.0f ? 1.0f : slope;
        case 3: { float t = tanhf(z); return 1.0f - t * t; }
        case 4: return 0.5f * (1.0f + erff(z * 0.70710678118654752f))
                       + z * 0.39894228040143268f * expf(-0.5f * z * z);
        default: return 1.0f;
    }
}

// Z <- Z + 1 b^T (row-major, rows of length m); H = sigma(Z) when h != 0.
extern "C" __global__ void bias_activate(float* z, const float* b, float* h,
                                         long long total, int m, int code,
                                         float slope, int activate) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        float v = z[i] + b[i % m];
        z[i] = v;
        if (activate) h[i] = act_apply(code, slope, v);
    }
}

// G <- G * sigma'(Z).
extern "C" __global__ void times_derivative(float* g, const float* z,
                                            long long total, int code,
                                            float slope) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) g[i] *= act_derivative(code, slope, z[i]);
}

// out[j] = sum_i G[i, j] (row-major n x m): the bias gradient.
extern "C" __global__ void column_sums(const float* g, float* out, int n, int m) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j < m) {
        float s = 0.0f;
        for (int i = 0; i < n; ++i) s += g[(long long)i * m + j];
        out[j] = s;
    }
}
