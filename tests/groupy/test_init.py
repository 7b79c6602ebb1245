"""Importing groupy's subpackages is silent, even with every warning turned into an error
(groupy/__init__ filters the known third-party import-time warnings of chainer and CuPy)."""
import subprocess
import sys


def test_import_raises_no_warnings():
    code = ("import groupy.garray, groupy.gfunc, groupy.gconv.make_gconv_indices, "
            "groupy.gconv.chainer_gconv; print('imported')")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "imported\n" and proc.stderr == ""


# Public names by module, as users of the original GrouPy import them.
PUBLIC = {
    "groupy.garray.Z2_array": "Z2Array identity rand u_range v_range meshgrid u v",
    "groupy.garray.C4_array": "C4Array C4Group C4 identity rand rotation r e",
    "groupy.garray.D4_array": "D4Array D4Group D4 identity rand rotation mirror_u mirror_v r m e",
    "groupy.garray.p4_array": "P4Array identity rand rotation translation r_range u_range "
                              "v_range meshgrid r u v C4_halfshift",
    "groupy.garray.p4m_array": "P4MArray identity rand rotation mirror_u mirror_v translation "
                               "m_range r_range u_range v_range meshgrid m r u v D4_halfshift",
    "groupy.garray.garray": "GArray",
    "groupy.garray.matrix_garray": "MatrixGArray",
    "groupy.garray.finitegroup": "FiniteGroup",
    "groupy.gfunc.gfuncarray": "GFuncArray",
    "groupy.gfunc.z2func_array": "Z2FuncArray",
    "groupy.gfunc.p4func_array": "P4FuncArray",
    "groupy.gfunc.p4mfunc_array": "P4MFuncArray",
    "groupy.gfunc.plot.plot_z2": "plot_z2",
    "groupy.gfunc.plot.plot_p4": "plot_p4",
    "groupy.gfunc.plot.plot_p4m": "plot_p4m",
    "groupy.gconv.make_gconv_indices": "make_c4_z2_indices make_c4_p4_indices "
                                       "make_d4_z2_indices make_d4_p4m_indices flatten_indices",
    "groupy.gconv.chainer_gconv.p4_conv": "P4ConvZ2 P4ConvP4",
    "groupy.gconv.chainer_gconv.p4m_conv": "P4MConvZ2 P4MConvP4M",
    "groupy.gconv.chainer_gconv.splitgconv2d": "SplitGConv2D",
    "groupy.gconv.chainer_gconv.transform_filter": "TransformGFilter transform_filter",
    "groupy.gconv.chainer_gconv.pooling.plane_group_spatial_max_pooling":
        "plane_group_spatial_max_pooling",
    "groupy.gconv.chainer_gconv.pooling": "plane_group_spatial_max_pooling "
                                          "orientation_max_pooling orientation_mean_pooling",
    "groupy.gconv.chainer_gconv": "SplitGConv2D P4ConvZ2 P4ConvP4 P4MConvZ2 P4MConvP4M "
                                  "TransformGFilter check_equivariance",
    "groupy.gconv.chainer_gconv.kernels.integer_indexing_cuda_kernel":
        "index_group_func_kernel grad_index_group_func_kernel",
}


def test_public_module_paths_and_names():
    import importlib
    for module_name, names in PUBLIC.items():
        module = importlib.import_module(module_name)
        missing = [n for n in names.split() if not hasattr(module, n)]
        assert not missing, f"{module_name} lacks {missing}"
        unlisted = [n for n in names.split() if n not in module.__all__]
        assert not unlisted, f"{module_name}.__all__ lacks {unlisted}"
    from groupy.garray.C4_array import C4
    from groupy.garray.D4_array import D4
    from groupy.garray.finitegroup import FiniteGroup
    assert isinstance(C4, FiniteGroup) and isinstance(D4, FiniteGroup)


def test_transform_filter_submodule_is_not_shadowed():
    """The package attribute is the submodule (as in the original, whose package exported only
    the four links), so ``import ....transform_filter as tf`` gives the module."""
    import types
    import groupy.gconv.chainer_gconv.transform_filter as tf
    from groupy.gconv import chainer_gconv
    assert isinstance(tf, types.ModuleType) and chainer_gconv.transform_filter is tf
    assert callable(tf.transform_filter) and tf.TransformGFilter is chainer_gconv.TransformGFilter
    import groupy.gfunc.plot.plot_p4 as pp4
    import groupy.gfunc.plot.plot_z2 as pz2
    assert isinstance(pp4, types.ModuleType) and isinstance(pz2, types.ModuleType)


def test_groupy_never_imports_the_experiments():
    code = ("import sys, groupy.garray, groupy.gfunc, groupy.fast_cpu, groupy.gconv.chainer_gconv, "
            "groupy.export; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] == 'gconv_experiments'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"
