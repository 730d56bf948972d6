// backup — being written.
namespace inhouse::backup {}
