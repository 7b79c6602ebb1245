"""Arrays of group elements: Z2 (translations), C4 and D4 (point groups), p4 and p4m (plane
groups).  Conventions (one table for the whole project):

=====  ==============  ================================================================
group  'int'           matrix
=====  ==============  ================================================================
Z2     (u, v)          'hmat' T(u, v)
C4     (r,)            'mat' R(r) = [[cos r pi/2, -sin r pi/2], [sin r pi/2, cos r pi/2]]
D4     (m, r)          'mat' M(m) R(r), M(m) = diag((-1)^m, 1)
p4     (r, u, v)       'hmat' T(u, v) R(r)
p4m    (m, r, u, v)    'hmat' T(u, v) M(m) R(r)
=====  ==============  ================================================================

u is the row and v the column coordinate of an image, so R(1) acts on images as ``np.rot90``
(counter-clockwise on screen) and M(1) as ``np.flip(axis=-2)`` (upside down).
"""
from groupy.garray import C4_array, D4_array, Z2_array, p4_array, p4m_array  # noqa: F401
from groupy.garray.C4_array import C4Array, C4Group  # noqa: F401
from groupy.garray.D4_array import D4Array, D4Group  # noqa: F401
from groupy.garray.finitegroup import FiniteGroup  # noqa: F401
from groupy.garray.garray import GArray  # noqa: F401
from groupy.garray.matrix_garray import MatrixGArray  # noqa: F401
from groupy.garray.p4_array import P4Array  # noqa: F401
from groupy.garray.p4m_array import P4MArray  # noqa: F401
from groupy.garray.Z2_array import Z2Array  # noqa: F401

__all__ = ['C4Array', 'C4Group', 'C4_array', 'D4Array', 'D4Group', 'D4_array', 'FiniteGroup',
           'GArray', 'MatrixGArray', 'P4Array', 'P4MArray', 'Z2Array', 'Z2_array', 'p4_array',
           'p4m_array']
