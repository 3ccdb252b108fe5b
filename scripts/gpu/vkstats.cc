// What the Vulkan driver made of a compute shader: compiles a SPIR-V module into a compute pipeline with
// VK_KHR_pipeline_executable_properties and prints the driver's statistics for it (on NVIDIA: registers per
// thread, shared memory, local memory, binary size, ...). The WebGPU programs reach the GPU as SPIR-V that Dawn
// makes from their WGSL; Dawn's `dump_shaders` toggle prints it (scripts/gpu/shader_stats.py drives the whole).
//
//   vkstats MODULE.spv ENTRY BINDINGS
//
// BINDINGS: the module's descriptor bindings of set 0 as `s` (storage buffer) or `u` (uniform buffer) per binding
// number, e.g. `sssu` for bindings 0-2 storage and 3 uniform. Output: one `name = value` line per statistic, per
// executable. Build: g++ -O2 -std=c++17 vkstats.cc -o vkstats -lvulkan (or -ldl with a libvulkan.so.1 at run time).
#include <vulkan/vulkan.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

void fail(const char* what, VkResult r) {
  std::fprintf(stderr, "vkstats: %s failed (VkResult %d)\n", what, static_cast<int>(r));
  std::exit(1);
}

#define VK_CHECK(call)                 \
  do {                                 \
    VkResult r_ = (call);              \
    if (r_ != VK_SUCCESS) fail(#call, r_); \
  } while (0)

std::vector<uint32_t> read_words(const char* path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "vkstats: cannot read %s\n", path);
    std::exit(1);
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() % 4 != 0 || bytes.empty()) {
    std::fprintf(stderr, "vkstats: %s is not a SPIR-V module (%zu bytes)\n", path, bytes.size());
    std::exit(1);
  }
  std::vector<uint32_t> words(bytes.size() / 4);
  std::memcpy(words.data(), bytes.data(), bytes.size());
  return words;
}

bool has_extension(const std::vector<VkExtensionProperties>& list, const char* name) {
  for (const auto& e : list) {
    if (std::strcmp(e.extensionName, name) == 0) return true;
  }
  return false;
}

void print_statistic(const VkPipelineExecutableStatisticKHR& s) {
  std::printf("  %s = ", s.name);
  switch (s.format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: std::printf("%s", s.value.b32 ? "true" : "false"); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: std::printf("%lld", static_cast<long long>(s.value.i64)); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
      std::printf("%llu", static_cast<unsigned long long>(s.value.u64));
      break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: std::printf("%g", s.value.f64); break;
    default: std::printf("?"); break;
  }
  std::printf("    (%s)\n", s.description);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: vkstats MODULE.spv ENTRY BINDINGS (e.g. sssu)\n");
    return 2;
  }
  const std::vector<uint32_t> code = read_words(argv[1]);
  const char* entry = argv[2];
  const std::string kinds = argv[3];

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "vkstats";
  app.apiVersion = VK_API_VERSION_1_3;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pApplicationInfo = &app;
  VkInstance instance;
  VK_CHECK(vkCreateInstance(&ici, nullptr, &instance));

  uint32_t count = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(instance, &count, nullptr));
  if (count == 0) {
    std::fprintf(stderr, "vkstats: no Vulkan device\n");
    return 1;
  }
  std::vector<VkPhysicalDevice> devices(count);
  VK_CHECK(vkEnumeratePhysicalDevices(instance, &count, devices.data()));
  VkPhysicalDevice phys = devices[0];
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(phys, &props);
  std::printf("device: %s (driver %u.%u.%u, vendor 0x%x)\n", props.deviceName, VK_VERSION_MAJOR(props.driverVersion),
              VK_VERSION_MINOR(props.driverVersion), VK_VERSION_PATCH(props.driverVersion), props.vendorID);

  uint32_t n_ext = 0;
  vkEnumerateDeviceExtensionProperties(phys, nullptr, &n_ext, nullptr);
  std::vector<VkExtensionProperties> available(n_ext);
  vkEnumerateDeviceExtensionProperties(phys, nullptr, &n_ext, available.data());
  // Without the extension the pipeline is still made (a check that the module compiles), with no statistics.
  const bool statistics = has_extension(available, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  if (!statistics) {
    std::printf("the device has no %s: no statistics\n", VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  }
  // What Dawn's SPIR-V may ask for: the Vulkan memory model (core 1.2 features), maximal reconvergence.
  std::vector<const char*> extensions;
  if (statistics) extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  const bool reconvergence = has_extension(available, "VK_KHR_shader_maximal_reconvergence");
  if (reconvergence) extensions.push_back("VK_KHR_shader_maximal_reconvergence");

  // Every feature the device has, so that whatever capability the module declares is enabled.
  // VkPhysicalDeviceShaderMaximalReconvergenceFeaturesKHR, spelled out for headers older than 1.3.279.
  struct {
    VkStructureType sType;
    void* pNext;
    VkBool32 shaderMaximalReconvergence;
  } recon{static_cast<VkStructureType>(1000434000), nullptr, VK_FALSE};
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features.pNext = &f11;
  f11.pNext = &f12;
  f12.pNext = &f13;
  void** tail = &f13.pNext;
  if (statistics) {
    *tail = &exec;
    tail = &exec.pNext;
  }
  if (reconvergence) *tail = &recon;
  vkGetPhysicalDeviceFeatures2(phys, &features);
  if (statistics && !exec.pipelineExecutableInfo) {
    std::fprintf(stderr, "vkstats: pipelineExecutableInfo is not supported\n");
    return 1;
  }

  uint32_t n_families = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &n_families, nullptr);
  std::vector<VkQueueFamilyProperties> families(n_families);
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &n_families, families.data());
  uint32_t family = 0;
  while (family < n_families && !(families[family].queueFlags & VK_QUEUE_COMPUTE_BIT)) ++family;
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &features;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  dci.ppEnabledExtensionNames = extensions.data();
  VkDevice device;
  VK_CHECK(vkCreateDevice(phys, &dci, nullptr, &device));

  auto get_props = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutablePropertiesKHR"));
  auto get_stats = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutableStatisticsKHR"));
  if (statistics && (get_props == nullptr || get_stats == nullptr)) {
    std::fprintf(stderr, "vkstats: the pipeline executable entry points are missing\n");
    return 1;
  }

  std::vector<VkDescriptorSetLayoutBinding> bindings;
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (kinds[i] == '-') continue;  // a binding number the module does not use
    VkDescriptorSetLayoutBinding b{};
    b.binding = static_cast<uint32_t>(i);
    b.descriptorType = kinds[i] == 'u' ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    b.descriptorCount = 1;
    b.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    bindings.push_back(b);
  }
  VkDescriptorSetLayoutCreateInfo dsl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dsl.bindingCount = static_cast<uint32_t>(bindings.size());
  dsl.pBindings = bindings.data();
  VkDescriptorSetLayout set_layout;
  VK_CHECK(vkCreateDescriptorSetLayout(device, &dsl, nullptr, &set_layout));
  VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  plci.setLayoutCount = 1;
  plci.pSetLayouts = &set_layout;
  VkPipelineLayout layout;
  VK_CHECK(vkCreatePipelineLayout(device, &plci, nullptr, &layout));

  VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smci.codeSize = code.size() * 4;
  smci.pCode = code.data();
  VkShaderModule module;
  VK_CHECK(vkCreateShaderModule(device, &smci, nullptr, &module));

  VkComputePipelineCreateInfo cpci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  cpci.flags = statistics ? VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0;
  cpci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cpci.stage.module = module;
  cpci.stage.pName = entry;
  cpci.layout = layout;
  VkPipeline pipeline;
  VK_CHECK(vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &cpci, nullptr, &pipeline));

  std::printf("pipeline made\n");
  if (!statistics) return 0;
  VkPipelineInfoKHR info{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  info.pipeline = pipeline;
  uint32_t n_exec = 0;
  VK_CHECK(get_props(device, &info, &n_exec, nullptr));
  std::vector<VkPipelineExecutablePropertiesKHR> execs(n_exec, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR});
  VK_CHECK(get_props(device, &info, &n_exec, execs.data()));
  for (uint32_t e = 0; e < n_exec; ++e) {
    std::printf("executable %u: %s (%s), subgroup size %u\n", e, execs[e].name, execs[e].description,
                execs[e].subgroupSize);
    VkPipelineExecutableInfoKHR ei{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    ei.pipeline = pipeline;
    ei.executableIndex = e;
    uint32_t n_stats = 0;
    VK_CHECK(get_stats(device, &ei, &n_stats, nullptr));
    std::vector<VkPipelineExecutableStatisticKHR> stats(n_stats, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
    VK_CHECK(get_stats(device, &ei, &n_stats, stats.data()));
    for (const auto& s : stats) print_statistic(s);
  }

  vkDestroyPipeline(device, pipeline, nullptr);
  vkDestroyShaderModule(device, module, nullptr);
  vkDestroyPipelineLayout(device, layout, nullptr);
  vkDestroyDescriptorSetLayout(device, set_layout, nullptr);
  vkDestroyDevice(device, nullptr);
  vkDestroyInstance(instance, nullptr);
  return 0;
}
